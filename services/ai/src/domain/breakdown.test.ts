import { BreakdownStep } from '@offload/contracts';
import { describe, expect, it } from 'vitest';
import { depthOf, parseBreakdownAnswer, STEP_LIMITS, totalTextChars, trimSteps } from './breakdown.js';

/** A model answer nested `levels` deep with `width` steps per level. */
function nested(levels: number, width: number, prefix = 's'): unknown[] {
  return Array.from({ length: width }, (_, i) => ({
    title: `${prefix}${i + 1}`,
    substeps: levels > 1 ? nested(levels - 1, width, `${prefix}${i + 1}.`) : [],
  }));
}

const widthsOf = (steps: BreakdownStep[]): number[] => {
  const widths: number[] = [steps.length];
  const walk = (list: { substeps: unknown[] }[]) => {
    for (const s of list) {
      if (s.substeps.length) widths.push(s.substeps.length);
      walk(s.substeps as { substeps: unknown[] }[]);
    }
  };
  walk(steps);
  return widths;
};

describe('totalTextChars', () => {
  it('adds input text, every hint and every template id', () => {
    expect(totalTextChars({ input_text: 'abcd', context_hints: ['ef', 'g'], template_ids: ['hij'] })).toBe(
      10,
    );
    expect(totalTextChars({ input_text: 'x', context_hints: [], template_ids: [] })).toBe(1);
  });
});

describe('trimSteps', () => {
  it('keeps an answer within the limits as it is', () => {
    const steps = [{ title: 'a', estimated_minutes: 5, substeps: [{ title: 'b', substeps: [] }] }];
    expect(trimSteps(steps)).toEqual([
      { title: 'a', estimated_minutes: 5, substeps: [{ title: 'b', substeps: [] }] },
    ]);
  });

  it('cuts an answer 5 levels deep to 3 levels: deeper substeps are dropped', () => {
    const trimmed = trimSteps(nested(5, 2));
    expect(depthOf(nested(5, 2) as BreakdownStep[])).toBe(5);
    expect(depthOf(trimmed)).toBe(3);
    expect(trimmed[0]!.substeps[0]!.substeps[0]).toEqual({ title: 's1.1.1', substeps: [] });
    expect(BreakdownStep.array().parse(trimmed)).toEqual(trimmed);
  });

  it('keeps 3 levels exactly (the limit) and nothing of a 4th', () => {
    expect(depthOf(trimSteps(nested(3, 1)))).toBe(3);
    expect(depthOf(trimSteps(nested(4, 1)))).toBe(3);
    expect(depthOf(trimSteps(nested(2, 1)))).toBe(2);
  });

  it('keeps the first 20 steps of every level: 20 stay 20, 21 become 20', () => {
    expect(widthsOf(trimSteps(nested(3, 20)))).toEqual(Array(1 + 20 + 400).fill(20));
    const wide = trimSteps(nested(3, 21));
    expect(widthsOf(wide)).toEqual(Array(1 + 20 + 400).fill(20));
    expect(wide.at(-1)!.title).toBe('s20');
  });

  it('cuts titles to 280 characters at a code point boundary and normalises whitespace', () => {
    const [at] = trimSteps([{ title: 'a'.repeat(280) }]);
    expect(at!.title).toHaveLength(280);
    const [past] = trimSteps([{ title: 'b'.repeat(281) }]);
    expect(past!.title).toBe('b'.repeat(280));
    const [emoji] = trimSteps([{ title: `${'c'.repeat(279)}😀😀` }]);
    expect(emoji!.title).toBe('c'.repeat(279));
    const [spaced] = trimSteps([{ title: '  call \n\t the   bank  ' }]);
    expect(spaced!.title).toBe('call the bank');
  });

  it('drops steps without a usable title and keeps only sane estimated_minutes', () => {
    const trimmed = trimSteps([
      { title: '   ' },
      { title: 7 },
      null,
      'text',
      { title: 'ok', estimated_minutes: 4.6 },
      { title: 'zero', estimated_minutes: 0 },
      { title: 'negative', estimated_minutes: -3 },
      { title: 'huge', estimated_minutes: STEP_LIMITS.maxEstimatedMinutes + 1 },
      { title: 'max', estimated_minutes: STEP_LIMITS.maxEstimatedMinutes },
      { title: 'string', estimated_minutes: '5' },
    ]);
    expect(trimmed).toEqual([
      { title: 'ok', estimated_minutes: 5, substeps: [] },
      { title: 'zero', substeps: [] },
      { title: 'negative', substeps: [] },
      { title: 'huge', substeps: [] },
      { title: 'max', estimated_minutes: STEP_LIMITS.maxEstimatedMinutes, substeps: [] },
      { title: 'string', substeps: [] },
    ]);
  });

  it('counts only kept steps towards the 20 of a level', () => {
    const steps = [{ title: '' }, ...nested(1, 25)];
    const trimmed = trimSteps(steps);
    expect(trimmed).toHaveLength(20);
    expect(trimmed[0]!.title).toBe('s1');
  });
});

describe('parseBreakdownAnswer', () => {
  it('parses a JSON answer and trims it to the contract', () => {
    const steps = parseBreakdownAnswer(JSON.stringify({ steps: nested(5, 2), note: 'ignored' }));
    expect(steps).not.toBeNull();
    expect(depthOf(steps!)).toBe(3);
    expect(BreakdownStep.array().parse(steps)).toEqual(steps);
  });

  it('accepts an answer wrapped in a Markdown code fence', () => {
    const text = '```json\n{"steps":[{"title":"one"}]}\n```';
    expect(parseBreakdownAnswer(text)).toEqual([{ title: 'one', substeps: [] }]);
  });

  it.each([
    ['not JSON', '{"steps": [{"title": "unterminated'],
    ['prose', 'Sure! Here are your steps: 1. start'],
    ['no steps key', '{"items": [{"title": "x"}]}'],
    ['steps not a list', '{"steps": "x"}'],
    ['a title that is not text', '{"steps": [{"title": 5}]}'],
    ['a nested title that is not text', '{"steps": [{"title": "a", "substeps": [{"title": []}]}]}'],
    ['no usable step', '{"steps": [{"title": "   "}]}'],
    ['an empty list', '{"steps": []}'],
    ['empty text', ''],
  ])('rejects %s', (_name, text) => {
    expect(parseBreakdownAnswer(text)).toBeNull();
  });

  it('does not look below the third level (a malformed 4th level is simply dropped)', () => {
    const text = JSON.stringify({
      steps: [
        { title: 'a', substeps: [{ title: 'b', substeps: [{ title: 'c', substeps: [{ title: 9 }] }] }] },
      ],
    });
    expect(parseBreakdownAnswer(text)).toEqual([
      { title: 'a', substeps: [{ title: 'b', substeps: [{ title: 'c', substeps: [] }] }] },
    ]);
  });
});
