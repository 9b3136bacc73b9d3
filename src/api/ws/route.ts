import type { MiddlewareHandler } from "hono";
import type { WebSocketSupport } from "../../runtime/types.ts";
import { WsConnection, type WsConnectionDeps } from "./connection.ts";

export type WsRouteDeps = WsConnectionDeps & { support: WebSocketSupport };

/** GET /v1/ws: upgrades and hands every socket its own WsConnection. */
export function wsRoute(deps: WsRouteDeps): MiddlewareHandler {
  return deps.support.upgradeWebSocket((c) => {
    let conn: WsConnection | undefined;
    const workspace = c.req.query("workspace");
    return {
      onOpen: (_e, ws) => {
        conn = new WsConnection(
          deps,
          { send: (t) => ws.send(t), close: (code, reason) => ws.close(code, reason), bufferedAmount: () => deps.support.bufferedAmount(ws.raw) },
          workspace ? { workspace } : {},
        );
        conn.open();
      },
      onMessage: (e) => void conn?.message(e.data as string | ArrayBuffer),
      onClose: () => conn?.close(),
      onError: () => conn?.close(),
    };
  });
}
