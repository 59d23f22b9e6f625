import { BREAKDOWN_LIMITS, type BreakdownGenerateRequest, type BreakdownStep } from '@offload/contracts';
import { z } from 'zod';

export interface StepLimits {
  maxDepth: number;
  maxPerLevel: number;
  maxTitleChars: number;
  maxEstimatedMinutes: number;
}

export const STEP_LIMITS: StepLimits = Object.freeze({
  maxDepth: BREAKDOWN_LIMITS.maxStepDepth,
  maxPerLevel: BREAKDOWN_LIMITS.maxStepsPerLevel,
  maxTitleChars: BREAKDOWN_LIMITS.maxStepTitleChars,
  maxEstimatedMinutes: BREAKDOWN_LIMITS.maxEstimatedMinutes,
});

/**
 * The size the 413 rule measures: every piece of text the client sends to the model (input text, context
 * hints, template ids), in the units zod's `max` counts (UTF-16 code units). `task_id` is an identifier and
 * never reaches the prompt, so it is not counted.
 */
export function totalTextChars(
  request: Pick<BreakdownGenerateRequest, 'input_text' | 'context_hints' | 'template_ids'>,
): number {
  let total = request.input_text.length;
  for (const hint of request.context_hints) total += hint.length;
  for (const id of request.template_ids) total += id.length;
  return total;
}

/**
 * What we accept from the model: `{"steps": [{"title", "estimated_minutes"?, "substeps"?}]}`. The schema is
 * lenient on purpose (extra keys ignored, missing substeps allowed) and only looks `maxDepth` levels deep:
 * deeper levels are trimmed below, never validated or passed through.
 */
function modelStep(levelsBelow: number): z.ZodType<ModelStep> {
  return z.object({
    title: z.string(),
    estimated_minutes: z.unknown().optional(),
    substeps: levelsBelow > 0 ? z.array(modelStep(levelsBelow - 1)).optional() : z.unknown().optional(),
  }) as z.ZodType<ModelStep>;
}

interface ModelStep {
  title: string;
  estimated_minutes?: unknown;
  substeps?: unknown;
}

const ModelAnswer = z.object({ steps: z.array(modelStep(STEP_LIMITS.maxDepth - 1)) });

/**
 * Parses a model's text answer into trimmed steps. Returns null when the answer is not JSON, does not have
 * the expected shape, or has no usable step left after trimming: the caller treats that as an invalid
 * answer (one retry, then 502 `provider_invalid_response`).
 */
export function parseBreakdownAnswer(text: string, limits: StepLimits = STEP_LIMITS): BreakdownStep[] | null {
  let json: unknown;
  try {
    json = JSON.parse(stripCodeFence(text));
  } catch {
    return null;
  }
  const parsed = ModelAnswer.safeParse(json);
  if (!parsed.success) return null;
  const steps = trimSteps(parsed.data.steps, limits);
  return steps.length > 0 ? steps : null;
}

/** Some models wrap JSON in a Markdown fence even when asked not to. */
function stripCodeFence(text: string): string {
  const match = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/i.exec(text);
  return match ? match[1]! : text;
}

/**
 * Trims a model's steps to the contract: at most `maxDepth` levels (deeper substeps are dropped), at most
 * `maxPerLevel` steps per level (the first ones are kept), titles whitespace-normalised and cut to
 * `maxTitleChars` (at a code point boundary), steps without a title dropped, `estimated_minutes` rounded
 * and kept only when within 1..maxEstimatedMinutes. Pure; never passes anything through untrimmed.
 */
export function trimSteps(steps: readonly unknown[], limits: StepLimits = STEP_LIMITS): BreakdownStep[] {
  return trimLevel(steps, limits, 1) as BreakdownStep[];
}

interface TrimmedStep {
  title: string;
  estimated_minutes?: number;
  substeps: TrimmedStep[];
}

function trimLevel(steps: readonly unknown[], limits: StepLimits, depth: number): TrimmedStep[] {
  const out: TrimmedStep[] = [];
  for (const raw of steps) {
    if (out.length >= limits.maxPerLevel) break;
    if (typeof raw !== 'object' || raw === null) continue;
    const step = raw as ModelStep;
    const title = normaliseTitle(step.title, limits.maxTitleChars);
    if (!title) continue;
    const minutes = normaliseMinutes(step.estimated_minutes, limits.maxEstimatedMinutes);
    const substeps =
      depth < limits.maxDepth && Array.isArray(step.substeps)
        ? trimLevel(step.substeps, limits, depth + 1)
        : [];
    out.push({ title, ...(minutes === undefined ? {} : { estimated_minutes: minutes }), substeps });
  }
  return out;
}

function normaliseTitle(title: unknown, maxChars: number): string {
  if (typeof title !== 'string') return '';
  const clean = title.replace(/\s+/g, ' ').trim();
  if (clean.length <= maxChars) return clean;
  let cut = '';
  for (const codePoint of clean) {
    if (cut.length + codePoint.length > maxChars) break;
    cut += codePoint;
  }
  return cut.trimEnd();
}

function normaliseMinutes(value: unknown, max: number): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const minutes = Math.round(value);
  return minutes >= 1 && minutes <= max ? minutes : undefined;
}

/** Depth of a step tree (1 = no substeps); for tests and metrics. */
export function depthOf(steps: readonly { substeps: readonly unknown[] }[]): number {
  let deepest = 0;
  for (const step of steps) {
    deepest = Math.max(deepest, 1 + depthOf(step.substeps as { substeps: unknown[] }[]));
  }
  return deepest;
}
