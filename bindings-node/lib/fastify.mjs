import cjs from './fastify.cjs'
export const { tokenkeepAuth } = cjs
export default tokenkeepAuth
