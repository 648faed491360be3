// node `http-proxy` as a reverse proxy in front of one target, for
// bench/run.sh's "reverse" comparison with `interpose capture --reverse`.
//
//   node tools/http-proxy-reverse.js TARGET [PORT]
//
// TARGET is http://host:port; PORT defaults to 0 (any free port). Listens on
// 127.0.0.1 and prints the port it got on stdout, alone on a line. Upstream
// connections are kept alive and pooled (a keep-alive http.Agent, up to 256
// sockets), and X-Forwarded-For/-Proto/-Host are added (`xfwd`), like
// interpose's reverse mode, so the two do the same job. One Node process (one
// core), as http-proxy is normally run.

const http = require("http");
const httpProxy = require("http-proxy");
const { answer502, listenAndPrintPort } = require("./serve");

const [target, portArg] = process.argv.slice(2);
const port = Number(portArg || 0);
if (!target || !/^http:\/\/[^/]+\/?$/.test(target) || !Number.isInteger(port)) {
  console.error("usage: node tools/http-proxy-reverse.js http://HOST:PORT [PORT]");
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
proxy.on("error", (err, req, res) => {
  answer502(res, err.message);
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60000;
listenAndPrintPort(server, port);
