import type { ClientRequest } from 'node:http';

/** "service operation" of an outgoing request (see aws-request-kind.mjs). */
export function requestKind(request: ClientRequest, caOrigin: string | undefined): string;
