/** `npm run bench`: every benchmark in turn. Each also runs on its own (`npx tsx bench/<name>.ts`). */
import { runGatewayBench } from './gateway.js';

await runGatewayBench();
