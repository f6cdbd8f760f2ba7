import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  StreamViewType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

const stringKey = (name: string) => ({ name, type: AttributeType.STRING });

/**
 * The one table of the pipeline (agents, jobs, history, connections, ...), keyed as in docs/ARCHITECTURE.md.
 * Its stream feeds the WebSocket fanout (hence NEW_AND_OLD_IMAGES) and the execution-starter.
 */
export class Data extends Construct {
  public readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.table = new Table(this, 'Table', {
      partitionKey: stringKey('PK'),
      sortKey: stringKey('SK'),
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      stream: StreamViewType.NEW_AND_OLD_IMAGES,
      timeToLiveAttribute: 'expiresAt',
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of ['GSI1', 'GSI2']) {
      this.table.addGlobalSecondaryIndex({
        indexName: index,
        partitionKey: stringKey(`${index}PK`),
        sortKey: stringKey(`${index}SK`),
        projectionType: ProjectionType.ALL,
      });
    }
    // Sparse: only agents in a status with a bound carry GSI3PK (`DEADLINE#<status>`) / GSI3SK (the deadline). Keys
    // only: the sweeper reads each agent it finds consistently anyway, as the index lags the table.
    this.table.addGlobalSecondaryIndex({
      indexName: 'GSI3',
      partitionKey: stringKey('GSI3PK'),
      sortKey: stringKey('GSI3SK'),
      projectionType: ProjectionType.KEYS_ONLY,
    });
    // Jobs by creation time (lambdas/shared/keys.ts#jobsByTimeKey): the operations console pages through it.
    this.table.addGlobalSecondaryIndex({
      indexName: 'JobsByTime',
      partitionKey: stringKey('JobsByTimePK'),
      sortKey: stringKey('JobsByTimeSK'),
      projectionType: ProjectionType.ALL,
    });
  }
}
