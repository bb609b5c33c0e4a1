/**
 * Where the broadcast service lives, seen from the api's URL. Behind the ALB both share one origin
 * (`/api` and `/socket.io` are path routes); locally the api listens on 8080 and broadcast on 8081.
 * The web page applies the same rule (services/api/public/connection.js).
 */
export function broadcastUrlFor(apiUrl: string, override?: string): string {
  if (override) return new URL(override).origin;
  const url = new URL(apiUrl);
  if (url.port === '8080') url.port = '8081';
  return url.origin;
}
