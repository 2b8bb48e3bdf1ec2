// Least-privilege IAM: one role per function, with only the actions that function uses.
// Included from serverless.yml (`resources`); the packaging test reads the result back from the template.
'use strict';

/**
 * What each function may do. `table`: actions on the table itself; `index`: Query on an index; `ssm`: secrets;
 * `notify`: hand-over (PutEvents on the bus, Step Functions task callbacks). Only the pollers notify: the other
 * functions leave notifications in the outbox, and the next poll delivers them.
 */
const PERMISSIONS = {
  // UpdateItem: the LKE quota shared by every container (one item, quota#lke).
  lkeStatus: {
    ssm: ['tencentcloud'],
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  },
  smhStatus: { ssm: ['smh'], table: ['dynamodb:GetItem', 'dynamodb:PutItem'] },
  trackLke: { table: ['dynamodb:GetItem', 'dynamodb:PutItem'] },
  trackSmh: { table: ['dynamodb:GetItem', 'dynamodb:PutItem'] },
  getTask: { table: ['dynamodb:GetItem'] },
  // Untracking writes the record (its notifications leave through the outbox, delivered by the pollers).
  untrackTask: { table: ['dynamodb:GetItem', 'dynamodb:PutItem'] },
  // GetItem: a whole identity is one read, and a filtered page reads its records by id.
  listTasks: { table: ['dynamodb:GetItem'], index: ['byProvider', 'byIdentity'] },
  // Static answers only: the OpenAPI document and RouteNotFound.
  apiIndex: {},
  lkePoll: {
    ssm: ['tencentcloud'],
    table: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    index: ['due'],
    notify: true,
  },
  smhPoll: { ssm: ['smh'], table: ['dynamodb:GetItem', 'dynamodb:PutItem'], index: ['due'], notify: true },
};

const TABLE_ARN = { 'Fn::GetAtt': ['TasksTable', 'Arn'] };
const arn = (...parts) => ({ 'Fn::Join': ['', parts] });
const partition = { Ref: 'AWS::Partition' };
const region = { Ref: 'AWS::Region' };
const account = { Ref: 'AWS::AccountId' };

function roleName(fn) {
  return `${fn[0].toUpperCase()}${fn.slice(1)}Role`;
}

module.exports = async ({ resolveVariable }) => {
  const service = await resolveVariable('self:service');
  const stage = await resolveVariable('sls:stage');
  const secretsPrefix = await resolveVariable('param:secretsPrefix');
  const eventBusName = await resolveVariable('param:eventBusName');
  const ssmPaths = {
    tencentcloud: `${secretsPrefix}/tencentcloud`,
    smh: `${secretsPrefix}/smh/libraries/*`,
  };
  const Resources = {};
  for (const [fn, permissions] of Object.entries(PERMISSIONS)) {
    const functionName = `${service}-${stage}-${fn}`;
    const statements = [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: arn(
          'arn:',
          partition,
          ':logs:',
          region,
          ':',
          account,
          `:log-group:/aws/lambda/${functionName}:*`,
        ),
      },
    ];
    if (permissions.ssm) {
      statements.push({
        Effect: 'Allow',
        Action: ['ssm:GetParameter'],
        Resource: permissions.ssm.map((key) =>
          arn('arn:', partition, ':ssm:', region, ':', account, `:parameter${ssmPaths[key]}`),
        ),
      });
    }
    if (permissions.table) {
      statements.push({ Effect: 'Allow', Action: permissions.table, Resource: TABLE_ARN });
    }
    if (permissions.index) {
      statements.push({
        Effect: 'Allow',
        Action: ['dynamodb:Query'],
        Resource: permissions.index.map((index) => arn(TABLE_ARN, `/index/${index}`)),
      });
    }
    if (permissions.notify) {
      statements.push(
        {
          Effect: 'Allow',
          Action: ['events:PutEvents'],
          Resource: arn('arn:', partition, ':events:', region, ':', account, `:event-bus/${eventBusName}`),
        },
        {
          // SendTask* act on a task token, not on a resource ARN: IAM accepts only "*" for them.
          Effect: 'Allow',
          Action: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
          Resource: '*',
        },
      );
    }
    Resources[roleName(fn)] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: ['lambda.amazonaws.com'] }, Action: ['sts:AssumeRole'] },
          ],
        },
        Policies: [
          {
            PolicyName: `${fn}-least-privilege`,
            PolicyDocument: { Version: '2012-10-17', Statement: statements },
          },
        ],
      },
    };
  }
  return { Resources };
};

module.exports.PERMISSIONS = PERMISSIONS;
module.exports.roleName = roleName;
