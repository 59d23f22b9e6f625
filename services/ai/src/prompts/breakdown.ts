/** The breakdown prompt in use. Answers report its version (`prompt_version`). */
export { build as buildBreakdownPrompt, version as BREAKDOWN_PROMPT_VERSION } from './breakdown.v1.js';
export type { BuiltPrompt, BreakdownPromptInput } from './breakdown.v1.js';
