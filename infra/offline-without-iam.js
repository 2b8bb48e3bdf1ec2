// Every HTTP route requires IAM (SigV4) on AWS. serverless-offline cannot check IAM: it reads an httpApi
// authorizer as JWT and refuses to start. This plugin removes the IAM authorizers when serverless-offline
// starts, so `npm start` serves the routes without authorization; packaging and deploying are untouched.
'use strict';

class OfflineWithoutIam {
  constructor(serverless) {
    const strip = () => {
      const removed = [];
      for (const [name, fn] of Object.entries(serverless.service.functions ?? {})) {
        for (const event of fn.events ?? []) {
          if (event.httpApi?.authorizer?.type === 'aws_iam') {
            delete event.httpApi.authorizer;
            removed.push(`${name} ${event.httpApi.method} ${event.httpApi.path}`);
          }
        }
      }
      if (removed.length > 0) {
        serverless.cli.log(
          `Local run: ${removed.length} HTTP routes served without IAM authorization (AWS requires SigV4)`,
        );
      }
    };
    this.hooks = { 'before:offline:start:init': strip, 'before:offline:start': strip };
  }
}

module.exports = OfflineWithoutIam;
