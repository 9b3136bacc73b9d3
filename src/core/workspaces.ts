// The workspace service lives in ./workspace/ (one file per idea; see ARCHITECTURE.md). This path stays
// importable for the transports and tests.
export { WorkspaceService, type ServicePortForwarder, type WorkspaceServiceDeps } from "./workspace/service.ts";
export { countConnections } from "./listeners.ts";
export { resolveResources } from "./workspace/plan.ts";
