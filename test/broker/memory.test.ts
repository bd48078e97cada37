import { describe, expect, it } from '@jest/globals';
import { MemoryBroker } from '../../lib/broker/memory.js';
import { describeBrokerContract, plate, type Plate } from './contract.js';

describeBrokerContract('MemoryBroker', (capacity, observer) => new MemoryBroker<Plate>(capacity, observer));
