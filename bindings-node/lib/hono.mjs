import cjs from './hono.cjs'
export const { jwtAuth } = cjs
export default cjs
