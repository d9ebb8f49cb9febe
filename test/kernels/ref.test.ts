import { RefBackend } from '../../src/kernels/index.ts'
import { backendConformance } from './backend.case.ts'

backendConformance('ref', async () => new RefBackend())
