// One GET with axios, printing {"status", "data"} as JSON on stdout. With a
// PROXY_PORT it goes through that HTTP proxy, given with axios's own `proxy`
// option as axios's documentation shows it; without one it goes direct
// (`proxy: false`, so no proxy environment variable applies). Used by
// crates/cli/tests/node_rules.rs.
//
//   node tools/axios-get.js URL [PROXY_PORT [PROXY_HOST]]
//
// PROXY_HOST defaults to 127.0.0.1. No Authorization header is set here: in
// the seed scenario the proxy adds it. Any HTTP status exits 0; no response
// exits 1.

const axios = require("axios");

async function main() {
  const [url, port, host = "127.0.0.1"] = process.argv.slice(2);
  if (!url) {
    console.error("usage: node tools/axios-get.js URL [PROXY_PORT [PROXY_HOST]]");
    process.exit(2);
  }
  const proxy = port ? { protocol: "http", host, port: Number(port) } : false;
  const response = await axios.get(url, {
    proxy,
    validateStatus: () => true,
    timeout: 20000,
  });
  console.log(JSON.stringify({ status: response.status, data: response.data }));
}

main().catch((err) => {
  console.error(`axios request failed: ${err.message}`);
  process.exit(1);
});
