/** @jest-environment ./test/sim/environment.js */
import { SUITE_LAST_SEED, simulationSuite } from './seeds';

// The simulation of the tracking core (test/sim/world.ts): seeds 111 to 220 of every family (see sim-1.test.ts).
describe('simulation, seeds 111–220', () => simulationSuite(111, SUITE_LAST_SEED - 110));
