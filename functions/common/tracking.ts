/** The tracking code, as lkeStatus and smhStatus load it: on the first `?track=true`, not on every cold start. */
export type TrackingService = typeof import('../../lib/tracking/service');

export const loadTracking = (): Promise<TrackingService> => import('../../lib/tracking/service');
