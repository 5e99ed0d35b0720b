// A browser agent's CometD client, run by the end-to-end tests against /cometd: the
// CometD project's own JavaScript client (npm `cometd`) in Node through
// `cometd-nodejs-client`, unmodified. It handshakes with the agent's session token,
// subscribes to /me/interactions (again after every re-handshake, as the client drops
// subscriptions when it handshakes), and prints one JSON line on stdout per event:
//   {"event":"handshake","successful":true,"clientId":"...","transport":"..."}
//   {"event":"subscribe","successful":true,"subscription":"/me/interactions"}
//   {"event":"message","channel":"/me/interactions","id":"7","data":{...}}
//   {"event":"connect","successful":false,"error":"..."}  (failed connects only)
//
// Usage: node agent.mjs --url http://127.0.0.1:8080/cometd --token <agent token>
//        [--transport long-polling|websocket] [--no-ack]
import { adapt } from "cometd-nodejs-client";
import { AckExtension, CometD } from "cometd";

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const url = option("url");
const token = option("token");
const transport = option("transport", "long-polling");
const ack = !process.argv.includes("--no-ack");
if (!url || !token || !["long-polling", "websocket"].includes(transport)) {
  console.error("usage: node agent.mjs --url <cometd url> --token <token> [--transport long-polling|websocket] [--no-ack]");
  process.exit(2);
}

function print(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

adapt();
const cometd = new CometD();
// Only the transport asked for, so the test knows which one it exercised.
for (const name of cometd.getTransportTypes()) {
  if (name !== transport) {
    cometd.unregisterTransport(name);
  }
}
if (ack) {
  cometd.registerExtension("ack", new AckExtension());
}
cometd.configure({ url, logLevel: "warn" });

cometd.addListener("/meta/handshake", (reply) => {
  print({
    event: "handshake",
    successful: reply.successful,
    clientId: reply.clientId ?? null,
    error: reply.error ?? null,
    transport: cometd.getTransport()?.type ?? null,
  });
  if (reply.successful) {
    cometd.subscribe("/me/interactions", (message) => {
      print({ event: "message", channel: message.channel, id: message.id ?? null, data: message.data });
    }, (subscribed) => {
      print({
        event: "subscribe",
        successful: subscribed.successful,
        subscription: subscribed.subscription ?? null,
        error: subscribed.error ?? null,
      });
    });
  }
});
cometd.addListener("/meta/connect", (reply) => {
  if (!reply.successful) {
    print({ event: "connect", successful: false, error: reply.error ?? reply.failure?.reason ?? null });
  }
});

cometd.handshake({ ext: { token } });

// Leave politely when the test stops us.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    cometd.disconnect(() => process.exit(0));
    setTimeout(() => process.exit(0), 500);
  });
}
