// Call the aios:llm component from Node.js through a jco transpilation.
//
// Usage:
//   node examples/js/chat.mjs TRANSPILED_DIR BASE_URL "prompt" [MODEL]
//
//   TRANSPILED_DIR  output of `jco transpile aios_llm_core.wasm -o DIR`; DIR must sit where
//                   Node resolves `@bytecodealliance/preview2-shim` (a folder with that
//                   package in its node_modules, or below one) — see README.md.
//   BASE_URL        OpenAI API root of a server, e.g. http://127.0.0.1:8000/v1
//
// jco maps WIT to JS: records are objects with camelCase fields, enums are strings,
// `option` is `undefined` or the value, variants are `{ tag, val }`, `result<T, error>`
// returns T or throws an Error whose `.payload` is the WIT `error` record, resources are
// classes (`Client.open(...)`, `client.chat(...)`) released with `[Symbol.dispose]()`.
import { pathToFileURL } from 'node:url';
import { resolve, join } from 'node:path';

const [dir, baseUrl, prompt, model] = process.argv.slice(2);
if (!dir || !baseUrl || !prompt) {
  console.error('usage: node chat.mjs TRANSPILED_DIR BASE_URL "prompt" [MODEL]');
  process.exit(2);
}
const { llmCore } = await import(pathToFileURL(join(resolve(dir), 'aios_llm_core.js')).href);
const { Client } = llmCore;

const showVariant = (v) => (v.val === undefined ? v.tag : `${v.tag}(${JSON.stringify(v.val)})`);
const showUsage = (u) => (u
  ? `usage: prompt=${u.promptTokens} completion=${u.completionTokens} total=${u.totalTokens}`
  : 'usage: not reported');

const config = {
  backends: [{ kind: 'openai-compatible', baseUrl, models: [] }], // models: discovered
  // jco's Node.js shim (preview2-shim 0.26) applies the connect timeout as an idle timeout
  // on the socket until the response head arrives, so there it bounds the server's first
  // byte too: a busy server answering after the default 5 s would fail with
  // `timeout(connect)`. One minute, like the whole call.
  timeouts: { totalMs: 60000, connectMs: 60000 },
  retry: {},
  cooldown: {},
};
const request = {
  messages: [{ role: 'user', content: prompt, toolCalls: [], parts: [] }],
  model,
  sampling: { maxTokens: 16, stop: [] },
  tools: [],
};

let client;
let stream;
try {
  client = Client.open(config);

  const resp = client.chat(request);
  console.log(`== chat (model ${resp.model}, backend ${resp.backend}, attempts ${resp.attempts}, `
    + `finish ${resp.finishReason ? showVariant(resp.finishReason) : '-'})`);
  console.log(`content: ${JSON.stringify(resp.content)}`);
  console.log(showUsage(resp.usage));

  // The same request counted by the server, chat template included: equal to prompt usage.
  const count = client.countTokens(request);
  console.log(`== count-tokens: ${count.promptTokens} prompt tokens (model ${count.model}, `
    + `context ${count.maxModelLen ?? 'unknown'})`);

  console.log('== chat-stream');
  stream = client.chatStream(request);
  for (;;) {
    const events = stream.blockingNext();
    if (events.length === 0) break; // the stream has ended
    for (const ev of events) {
      if (ev.tag === 'done') {
        console.log(`done: content=${JSON.stringify(ev.val.content)} finish=${showVariant(ev.val.finishReason)}`);
        console.log(showUsage(ev.val.usage));
      } else {
        console.log(`${ev.tag} delta: ${JSON.stringify(ev.val)}`);
      }
    }
  }
} catch (e) {
  const err = e?.payload;
  if (!err) throw e; // a trap or a host failure, not a WIT error
  console.error(`error: ${showVariant(err.code)}: ${err.message} (backend ${err.backend}, attempts ${err.attempts})`);
  if (err.status !== undefined) console.error(`  http status ${err.status}, body ${JSON.stringify(err.body)}`);
  process.exitCode = 1;
} finally {
  stream?.[Symbol.dispose]();
  client?.[Symbol.dispose]();
}
