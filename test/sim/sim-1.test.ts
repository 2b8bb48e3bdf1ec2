/** @jest-environment ./test/sim/environment.js */
import { simulationSuite } from './seeds';

// The simulation of the tracking core (test/sim/world.ts): seeds 1 to 110 of every family. Seeds 111 to 220 run
// in sim-2.test.ts, in another jest worker.
describe('simulation, seeds 1–110', () => simulationSuite(1, 110));
