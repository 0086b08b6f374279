import { ConntrailError, type EbpfErrorCode } from '../../../domain/errors.js';

export type { EbpfErrorCode } from '../../../domain/errors.js';

export class EbpfError extends ConntrailError<EbpfErrorCode> {}
