// What the tools' small servers share: answer an upstream error with a 502
// that says why, listen on 127.0.0.1, print the port once listening (the
// caller reads it from stdout), and stop cleanly on SIGINT or SIGTERM.

function answer502(res, message) {
  if (res && !res.headersSent && typeof res.writeHead === "function") {
    res.writeHead(502, { "content-type": "text/plain" });
  }
  if (res && typeof res.end === "function") res.end(`http-proxy: ${message}\n`);
}

function listenAndPrintPort(server, port) {
  server.listen(port, "127.0.0.1", () => {
    console.log(server.address().port);
  });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    });
  }
}

module.exports = { answer502, listenAndPrintPort };
