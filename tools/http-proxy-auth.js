// The seed scenario's proxy: node `http-proxy` used as a forward proxy that
// adds an Authorization header so the client does not have to.
//
//   node tools/http-proxy-auth.js [PORT] [TOKEN]
//
// PORT defaults to 0 (any free port); TOKEN (the value after "Bearer ")
// defaults to $PROXY_AUTH_TOKEN. Listens on 127.0.0.1 and prints the port it
// got on stdout, alone on a line, once it is listening. Handles plain-http
// absolute-form requests (`GET http://host:port/path HTTP/1.1`), which is
// what axios sends for an http:// URL with its `proxy` option; CONNECT
// (https) is not handled, as in the seed. Used by
// crates/cli/tests/node_rules.rs to check that `interpose capture --rules`
// gives the origin the same request this proxy does.

const http = require("http");
const httpProxy = require("http-proxy");
const { answer502, listenAndPrintPort } = require("./serve");

const port = Number(process.argv[2] || 0);
const token = process.argv[3] || process.env.PROXY_AUTH_TOKEN;
if (!Number.isInteger(port) || port < 0 || port > 65535 || !token) {
  console.error(
    "usage: node tools/http-proxy-auth.js [PORT] TOKEN  (or PROXY_AUTH_TOKEN=TOKEN)",
  );
  process.exit(2);
}

const proxy = httpProxy.createProxyServer({});
proxy.on("proxyReq", (proxyReq) => {
  proxyReq.setHeader("Authorization", `Bearer ${token}`);
});
proxy.on("error", (err, req, res) => {
  console.error(`http-proxy: ${req.method} ${req.url}: ${err.message}`);
  answer502(res, err.message);
});

const server = http.createServer((req, res) => {
  let target;
  try {
    const url = new URL(req.url); // absolute-form: http://host:port/path
    target = `${url.protocol}//${url.host}`;
  } catch (_) {
    res.writeHead(400, { "content-type": "text/plain" });
    res.end(`not a proxy request (absolute-form URL expected): ${req.url}\n`);
    return;
  }
  proxy.web(req, res, { target });
});

listenAndPrintPort(server, port);
