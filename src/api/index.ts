/** The GraphQL API: createApiServer serves /graphql and /healthz over node:http. */
export { createApiServer, isLoopbackHost, type ApiAddress, type ApiServer, type ApiServerOptions, type ApiServerState } from './server.js';
export { ApiError, ApiConfigError, type ApiErrorCode } from './errors.js';
export { DEFAULT_LIMITS, type ApiLimits } from './limits.js';
export type { Logger as ApiLogger } from '../domain/logger.js';
export { estimateCost } from './complexity.js';
