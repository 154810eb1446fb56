// The server version, read once from package.json so the log, HELLO and the client agree.
import pkg from "../../package.json" with { type: "json" };
export const VERSION: string = pkg.version;
