#!/usr/bin/env node
/** `blankspot-edge` / `npm start`: the API and demo page on localhost, serving models/ through its manifest. */
import { parseArgs } from 'node:util';
import { configFromEnv } from '../config.js';
import { startNodeServer } from './server.js';
import { allocator, relaunchOnJemalloc } from './allocator.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8787' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    models: { type: 'string' },
    'require-models': { type: 'boolean', default: false },
  },
});

if (!relaunchOnJemalloc()) await main();

async function main(): Promise<void> {
  try {
    const server = await startNodeServer({
      port: Number(values.port),
      hostname: values.host,
      modelsDir: values.models,
      config: configFromEnv(process.env),
      requireModels: values['require-models'],
      logRequests: process.env.BLANKSPOT_LOG_REQUESTS !== 'false',
    });
    const stop = () => void server.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Announced only once a stop signal is handled: whoever waits for this line may stop us at once.
    console.log(`blankspot API and demo page on ${server.url} (memory allocator: ${allocator()})`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
