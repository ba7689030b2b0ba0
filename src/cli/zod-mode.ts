/**
 * Picks zod's parser mode for this process; main.ts imports it first, because zod reads the
 * setting when a schema is built, and the modules after it build theirs as they load.
 *
 * Zod compiles a fast parser (with `new Function`) for each object schema on its first use. That
 * halves the cost of each later parse, which pays in the long-running commands that read many
 * records, but a one-shot command parses a few records and paid ~10-20 ms of compiling for them.
 */
import { z } from 'zod';
import { readArgvHead } from './argv-head.js';

/** Commands that live on and parse records by the thousand: these keep the compiled parsers. */
const LONG_RUNNING = new Set(['up', 'demo', 'web', 'telegram', 'sync']);

const { command } = readArgvHead(process.argv.slice(2));
if (command === undefined || !LONG_RUNNING.has(command)) z.config({ jitless: true });
