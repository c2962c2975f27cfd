import cjs from './express.cjs'
export const { jwtAuth } = cjs
export default cjs
