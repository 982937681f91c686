import { fileURLToPath } from 'node:url';

/** The built `blankspot` command, as `npx blankspot` runs it. */
export const BLANKSPOT_CLI = fileURLToPath(new URL('../../cli/dist/cli.js', import.meta.url));
