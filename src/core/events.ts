// In-process event bus: every status change is published here; transports (WebSocket) subscribe.

export interface WorkspaceEvent {
  type: "workspace.status" | "workspace.stats" | "port.forward" | "workspace.progress";
  payload: { workspaceId: string; [key: string]: unknown };
}

export type EventListener = (event: WorkspaceEvent) => void;

export class EventBus {
  readonly #listeners = new Set<EventListener>();

  publish(event: WorkspaceEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // A failing subscriber must not break the publisher or other subscribers.
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
