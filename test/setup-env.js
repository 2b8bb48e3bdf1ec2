// The AWS SDK versions locked in package-lock.json support Node 20; silence their notice about future ones.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// Powertools' default logger would print every handler log line in tests that do not pass their own.
process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT';
