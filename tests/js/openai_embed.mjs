// The npm `openai` client (v4, Node 18+) against ipfskit's POST /v1/embeddings.
//   node openai_embed.mjs BASE_URL API_KEY MODEL INPUTS_FILE
// BASE_URL is ".../v1". Prints one JSON object:
//   {"default": [[...]], "float": [[...]], "single": [...], "usage": {...}, "model": "...",
//    "bad_model": {"status", "code", "type"}, "bad_key": {"status", "code"}}
// "default" is what the client returns when no encoding_format is given (it asks for base64 and
// decodes the float32 itself), "float" asks for JSON floats, "single" is one string input.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const [baseURL, apiKey, model, inputsFile] = process.argv.slice(2);
const inputs = readFileSync(inputsFile, 'utf8').split('\n').filter((l) => l.length > 0);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

const def = await client.embeddings.create({ model, input: inputs });
const flt = await client.embeddings.create({ model, input: inputs, encoding_format: 'float' });
const one = await client.embeddings.create({ model, input: inputs[0] });
const byIndex = (r) => r.data.slice().sort((a, b) => a.index - b.index).map((d) => Array.from(d.embedding));

async function failure(c, m) {
  try {
    await c.embeddings.create({ model: m, input: 'x' });
    return { status: 200 };
  } catch (e) {
    return { status: e.status ?? null, code: e.code ?? null, type: e.type ?? null, name: e.constructor.name };
  }
}

const out = {
  default: byIndex(def),
  float: byIndex(flt),
  single: Array.from(one.data[0].embedding),
  usage: def.usage,
  model: def.model,
  object: def.object,
  bad_model: await failure(client, 'no-such-model'),
  bad_key: await failure(new OpenAI({ baseURL, apiKey: apiKey + '-wrong', maxRetries: 0 }), model),
};
process.stdout.write(JSON.stringify(out) + '\n');
