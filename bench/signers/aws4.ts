import aws4 from 'aws4';
import { REQUEST } from './request';

const { request, credentials, scope } = REQUEST;
aws4.sign(
  {
    host: request.url.host,
    method: request.method,
    path: '/',
    headers: { ...request.headers },
    body: request.body,
    ...scope,
  },
  credentials,
);
