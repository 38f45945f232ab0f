import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { CommandService } from '../vehicles/command.service';
import type { GraphQLContext } from './context';
import { CommandResultType } from './signal.types';

@Resolver()
export class CommandResolver {
  constructor(private readonly commands: CommandService) {}

  @Mutation(() => CommandResultType)
  lockVehicle(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID) id: string): Promise<CommandResultType> {
    return this.commands.run(ctx.session, id, 'lock');
  }

  @Mutation(() => CommandResultType)
  unlockVehicle(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID) id: string): Promise<CommandResultType> {
    return this.commands.run(ctx.session, id, 'unlock');
  }

  @Mutation(() => CommandResultType)
  startCharge(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID) id: string): Promise<CommandResultType> {
    return this.commands.run(ctx.session, id, 'startCharge');
  }

  @Mutation(() => CommandResultType)
  stopCharge(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID) id: string): Promise<CommandResultType> {
    return this.commands.run(ctx.session, id, 'stopCharge');
  }

  @Mutation(() => Boolean, { description: "Revokes the application's access to the vehicle at Smartcar and removes it from the session." })
  disconnectVehicle(@Ctx() ctx: GraphQLContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return this.commands.disconnect(ctx.session, id);
  }

  @Mutation(() => Boolean, { description: 'Deletes the session and every token it holds, and clears the cookie.' })
  async signOut(@Ctx() ctx: GraphQLContext): Promise<boolean> {
    await ctx.session.signOut();
    return true;
  }
}
