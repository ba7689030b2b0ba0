import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import type { Figure, Section } from './harness.js';
import { round } from './stats.js';

export function machine(): Record<string, string | number> {
  let gitVersion = 'unknown';
  try {
    gitVersion = execFileSync('git', ['--version'], { encoding: 'utf8' }).trim();
  } catch { /* no git */ }
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGb: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release(), git: gitVersion };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function markdown(sections: Section[], figures: Figure[], meta: Record<string, unknown>, errors: Array<{ section: string; message: string }>): string {
  const lines: string[] = [];
  lines.push('# Orchestra bench', '');
  lines.push(Object.entries(meta).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · '), '');
  lines.push('| Section | Measure | Value | Unit | Notes |', '|---|---|---:|---|---|');
  for (const section of sections) {
    const rows = figures.filter((f) => f.section === section.name);
    const failed = errors.find((e) => e.section === section.name);
    if (rows.length === 0 && !failed) continue;
    for (const f of rows) lines.push(`| ${section.name} | ${cell(f.label)} | ${round(f.value)} | ${f.unit} | ${cell(f.note ?? '')} |`);
    if (failed) lines.push(`| ${section.name} | **failed** | | | ${cell(failed.message.split('\n')[0]!.slice(0, 200))} |`);
  }
  lines.push('', ...sections.map((s) => `- **${s.name}**: ${s.title}`));
  return lines.join('\n') + '\n';
}
