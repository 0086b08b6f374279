/**
 * Reads the API's settings from an environment object (the composition root passes process.env); nothing here
 * reads the process environment by itself.
 */
import { ApiConfigError } from './errors.js';
import type { ApiServerOptions } from './server.js';

export interface ApiEnvSettings {
  readonly host: string;
  readonly port: number;
  readonly token: string | null;
  readonly production: boolean;
}

export function apiSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): ApiEnvSettings {
  const port = env.API_PORT === undefined || env.API_PORT === '' ? 4000 : Number(env.API_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ApiConfigError('CONFIG_INVALID', `API_PORT must be 0..65535 (got ${env.API_PORT})`);
  const token = env.API_TOKEN && env.API_TOKEN.length > 0 ? env.API_TOKEN : null;
  if (token !== null && token.length < 16) throw new ApiConfigError('CONFIG_INVALID', 'API_TOKEN must be at least 16 characters');
  return { host: env.API_HOST || '127.0.0.1', port, token, production: env.NODE_ENV === 'production' };
}

export type { ApiServerOptions };
