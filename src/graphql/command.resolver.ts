import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { CommandService } from '../vehicles/command.service';
import { COMMANDS, type CommandName } from '../vehicles/signal.registry';
import type { GraphQLContext } from './context';
import { CommandResultType } from './signal.types';

/** One mutation per command of the registry, generated in its order (the schema's order). */
@Resolver()
export abstract class CommandMutations {
  constructor(protected readonly commands: CommandService) {}
}

for (const [command, spec] of Object.entries(COMMANDS) as [CommandName, (typeof COMMANDS)[CommandName]][]) {
  const proto = CommandMutations.prototype;
  const descriptor = {
    value: function (this: CommandMutations, ctx: GraphQLContext, id: string): Promise<CommandResultType> {
      return this.commands.run(ctx.session, id, command);
    },
    writable: true,
    configurable: true,
  };
  Object.defineProperty(proto, spec.mutation, descriptor);
  Mutation(() => CommandResultType)(proto, spec.mutation, descriptor);
  Ctx()(proto, spec.mutation, 0);
  Arg('id', () => ID)(proto, spec.mutation, 1);
}

@Resolver()
export class CommandResolver extends CommandMutations {
  @Mutation(() => Boolean, { description: "Revokes the application's access to the vehicle at Smartcar and removes it from the session." })
  disconnectVehicle(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return this.commands.disconnect(ctx.session, id);
  }

  @Mutation(() => Boolean, { description: 'Deletes the session and every token it holds, and clears the cookie.' })
  async signOut(@Ctx() ctx: GraphQLContext): Promise<boolean> {
    await this.commands.signOut(ctx.session);
    return true;
  }
}
