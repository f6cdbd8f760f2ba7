// Placeholder until the dispatch-workflow handler lands; replaced by its owner.
export const handler = async (): Promise<never> => {
  throw new Error('not implemented');
};
