/**
 * Where a configured endpoint sends an AWS service's calls, as the AWS SDKs and the CLI resolve it ("Service-specific
 * endpoints", AWS SDKs and Tools reference guide): `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`; neither
 * when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`. `legacy` names this project's older variable for the service,
 * read only when neither standard one is set (and not when endpoints are ignored). Undefined: the service's own
 * endpoint for the region.
 */
export function configuredEndpoint(
  service: 'DYNAMODB' | 'EVENTBRIDGE' | 'SFN',
  env: Record<string, string | undefined> = process.env,
  legacy?: string,
): { url: string; legacy: boolean } | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === 'true') return undefined;
  const standard = env[`AWS_ENDPOINT_URL_${service}`]?.trim() || env.AWS_ENDPOINT_URL?.trim();
  if (standard) return { url: standard, legacy: false };
  const older = legacy ? env[legacy]?.trim() : undefined;
  return older ? { url: older, legacy: true } : undefined;
}

/** The DNS suffix of a region's partition: the China regions are in `aws-cn`. */
export function dnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}
