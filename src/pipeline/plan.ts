import { z } from 'zod';

/**
 * A plan: the one schema the planner's `submit_plan` is checked with and `plan.proposed` records,
 * and the one list of its sections, in order, with their labels. Every view (the plan file, the
 * CLI, Telegram, the web page) formats these sections; none names them on its own.
 */
export const PlanSchema = z.object({
  summary: z.string().trim().min(1).max(4000),
  steps: z.array(z.string().trim().min(1).max(2000)).min(1).max(50),
  criteria: z.array(z.string().trim().min(1).max(1000)).max(30).default([]),
  risks: z.array(z.string().trim().min(1).max(1000)).max(30).default([]),
});
export type Plan = z.infer<typeof PlanSchema>;

export type PlanSection =
  | { key: 'summary'; label: string; text: string }
  | { key: 'steps' | 'criteria' | 'risks'; label: string; items: string[]; numbered: boolean };

/** The sections of a plan, in reading order (a list section may be empty). */
export function planSections(plan: Pick<Plan, 'summary' | 'steps' | 'criteria' | 'risks'>): PlanSection[] {
  return [
    { key: 'summary', label: 'Summary', text: plan.summary },
    { key: 'steps', label: 'Steps', items: plan.steps, numbered: true },
    { key: 'criteria', label: 'Acceptance criteria', items: plan.criteria, numbered: false },
    { key: 'risks', label: 'Risks', items: plan.risks, numbered: false },
  ];
}

/** The plan file (`records/plan-vN.md`): Markdown, one heading per section. */
export function renderPlanMarkdown(title: string, version: number, plan: Plan): string {
  const lines = [`# Plan v${version}: ${title}`, ''];
  for (const section of planSections(plan)) {
    lines.push(`## ${section.label}`, '');
    if (section.key === 'summary') lines.push(section.text);
    else lines.push(section.items.length ? section.items.map((s, i) => `${section.numbered ? `${i + 1}.` : '-'} ${s}`).join('\n') : '- (none)');
    lines.push('');
  }
  return lines.join('\n');
}
