// Placeholder until the store-task-token handler lands; replaced by its owner.
export const handler = async (): Promise<never> => {
  throw new Error('not implemented');
};
