import { Logger } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger per container. Level and service name come from POWERTOOLS_LOG_LEVEL and
 * POWERTOOLS_SERVICE_NAME (set in serverless.yml). Events are never logged whole: they may carry task tokens.
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'tencent-task-tracker',
});
