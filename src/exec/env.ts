/** The sandbox's view of environment secrets; the rules live in core (see core/env-secrets.ts). */
export * from '../core/env-secrets.js';
