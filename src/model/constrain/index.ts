export { Grammar, ConstraintError, type Constraint } from './constraint.ts'
export { compileSchema, jsonObjectGrammar } from './schema.ts'
