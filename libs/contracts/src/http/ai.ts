import { z } from 'zod';

/**
 * Limits of `POST /v1/ai/breakdown/generate` (DESIGN 7). Each one has a test at the limit and one past it.
 * The total text budget (input text + hints + template ids) is configurable per deployment
 * (`AI_MAX_INPUT_CHARS`); 4000 is its default. Lengths are counted like zod counts them (UTF-16 units).
 */
export const BREAKDOWN_LIMITS = {
  minGranularity: 1,
  maxGranularity: 5,
  maxContextHints: 32,
  maxContextHintChars: 280,
  maxTemplateIds: 32,
  maxTemplateIdChars: 128,
  defaultMaxInputChars: 4000,
  maxStepDepth: 3,
  maxStepsPerLevel: 20,
  maxStepTitleChars: 280,
  maxEstimatedMinutes: 10_080,
} as const;

const L = BREAKDOWN_LIMITS;

/**
 * Offload's breakdown request. `granularity` 1 = just the main steps ... 5 = tiny micro-steps.
 * `input_text` has no length of its own: the sum of all text is checked instead (413 `request_too_large`).
 */
export const BreakdownGenerateRequest = z
  .object({
    input_text: z.string().min(1),
    granularity: z.number().int().min(L.minGranularity).max(L.maxGranularity),
    context_hints: z.array(z.string().min(1).max(L.maxContextHintChars)).max(L.maxContextHints).default([]),
    template_ids: z.array(z.string().min(1).max(L.maxTemplateIdChars)).max(L.maxTemplateIds).default([]),
    /** The (client's) task the breakdown is for; an identifier, never stored with any text. */
    task_id: z.string().min(1).max(128).optional(),
  })
  .strict();
export type BreakdownGenerateRequest = z.infer<typeof BreakdownGenerateRequest>;

const stepFields = {
  title: z.string().min(1).max(L.maxStepTitleChars),
  estimated_minutes: z.number().int().min(1).max(L.maxEstimatedMinutes).optional(),
};

/** Steps nest at most 3 deep (spelled out level by level, so the depth limit is part of the contract). */
export const BreakdownStepLevel3 = z.object({ ...stepFields, substeps: z.array(z.never()).max(0) });
export const BreakdownStepLevel2 = z.object({
  ...stepFields,
  substeps: z.array(BreakdownStepLevel3).max(L.maxStepsPerLevel),
});
export const BreakdownStep = z.object({
  ...stepFields,
  substeps: z.array(BreakdownStepLevel2).max(L.maxStepsPerLevel),
});
export type BreakdownStep = z.infer<typeof BreakdownStep>;

export const BreakdownGenerateResponse = z.object({
  steps: z.array(BreakdownStep).min(1).max(L.maxStepsPerLevel),
  /** Which provider answered, e.g. `openai`. */
  provider: z.string(),
  /** Time spent getting the answer from the provider, every attempt and wait included. */
  latency_ms: z.number().int().nonnegative(),
  /** Tokens the provider billed, summed over every attempt it answered (an invalid answer costs too). */
  usage: z.object({
    input_tokens: z.number().int().nonnegative(),
    output_tokens: z.number().int().nonnegative(),
  }),
  /** The versioned prompt that produced the answer, e.g. `breakdown.v1`. */
  prompt_version: z.string(),
});
export type BreakdownGenerateResponse = z.infer<typeof BreakdownGenerateResponse>;
