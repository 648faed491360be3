// Fetches URL through an HTTP proxy on 127.0.0.1:PORT with axios's own
// `proxy` option, exactly as axios's documentation shows it, and prints the
// status. Used by crates/cli/tests/routing.rs against `interpose capture`.
//
//   node tools/axios-proxy.js URL PORT
//
// For an https:// URL axios (1.x) opens a CONNECT tunnel through the proxy
// and speaks TLS inside it; `interpose capture` intercepts that TLS, so Node
// must trust interpose's CA: run with NODE_EXTRA_CA_CERTS=CA.crt (what a
// user would do; the axios call itself stays exactly the documented one).

const axios = require("axios");

async function main() {
  const [url, port] = process.argv.slice(2);
  if (!url || !port) {
    console.error("usage: node tools/axios-proxy.js URL PORT");
    process.exit(2);
  }
  const response = await axios.get(url, {
    proxy: { protocol: "http", host: "127.0.0.1", port: Number(port) },
    validateStatus: () => true,
    timeout: 20000,
  });
  console.log(response.status);
}

main().catch((err) => {
  console.error(`axios request failed: ${err.message}`);
  process.exit(1);
});
