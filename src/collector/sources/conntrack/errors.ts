import { ConntrailError, type ConntrackErrorCode } from '../../../domain/errors.js';

export type { ConntrackErrorCode } from '../../../domain/errors.js';

export class ConntrackError extends ConntrailError<ConntrackErrorCode> {}
