import { z } from 'zod';
import { ConfigSchema } from '../core/config.js';
import { CommandSchema } from '../core/inbox-format.js';
import { NewTaskSchema } from '../core/ops/tasks.js';
import { RecordSchema } from '../core/record.js';
import { PlanSchema } from '../pipeline/plan.js';

/** The published formats, as JSON Schema generated from the zod schemas the code validates with. */
export const PUBLISHED_SCHEMAS = {
  task: { schema: NewTaskSchema, about: 'a new task (inbox JSON; Markdown front matter has the same keys)' },
  command: { schema: CommandSchema, about: 'an inbox command on an existing task' },
  record: { schema: RecordSchema, about: 'one record file of a stream (tasks/<id>/events/NNNNNNNNNN.json)' },
  plan: { schema: PlanSchema, about: 'the plan the planner submits (submit_plan) and that is recorded as plan.proposed' },
  config: { schema: ConfigSchema, about: 'the workspace config, orchestra.json' },
} as const;
export type SchemaName = keyof typeof PUBLISHED_SCHEMAS;

export function jsonSchema(name: SchemaName): Record<string, unknown> {
  const { schema, about } = PUBLISHED_SCHEMAS[name];
  return { title: `orchestra ${name}`, description: about, ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) };
}
