import { signRequest } from './own-sigv4';
import { REQUEST } from './request';

// Loaded and used once: what the table client's signer costs a cold start.
signRequest(REQUEST.request, REQUEST.credentials, REQUEST.scope);
