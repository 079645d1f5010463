"""pygame drawing of the three boards, and the window where a person plays with the mouse.

:func:`render_board` draws a position (with, optionally, a player's move probabilities and value)
into an RGB array; it needs no display. :class:`HumanGame` opens a window: the person picks a side
(click a button, or press 1 or 2), clicks a point (a column in Connect Four; P or the button passes
in Go), and sees the opponent's value and move probabilities as it thinks. Esc or closing the
window ends it. It reads events with ``pygame.event.get()``, so posted events drive it in tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from sandbox.envs.games.base import Game

MARGIN = 24
PANEL = 110
SIDES = {"tictactoe": ("X", "O"), "connect_four": ("Red", "Yellow")}

#: opponent(state) -> (action, info with "probs" (A,) and "value" for the player to move)
Opponent = Callable[[np.ndarray], "tuple[int, dict[str, Any]]"]
#: thinker(state, deterministic) -> the same, choosing greedily or not
Thinker = Callable[[np.ndarray, bool], "tuple[int, dict[str, Any]]"]


def side_names(game: Game) -> tuple[str, str]:
    return SIDES.get(game.name, ("Black", "White"))


def cell_size(game: Game) -> int:
    return {3: 120, 6: 80, 7: 80}.get(game.height, max(36, 480 // game.height))


def board_size(game: Game) -> tuple[int, int]:
    cs = cell_size(game)
    return MARGIN * 2 + game.width * cs, MARGIN * 2 + game.height * cs + PANEL


def cell_at(game: Game, pos: tuple[int, int]) -> tuple[int, int] | None:
    """The (row, column) of the drawn board under a pixel, or None outside the board."""
    cs = cell_size(game)
    c, r = (pos[0] - MARGIN) // cs, (pos[1] - MARGIN) // cs
    if 0 <= r < game.height and 0 <= c < game.width:
        return int(r), int(c)
    return None


def _font(size: int) -> Any:
    import pygame

    if not pygame.font.get_init():
        pygame.font.init()
    return pygame.font.Font(None, size)


def draw_board(surface: Any, game: Game, state: np.ndarray, probs: np.ndarray | None = None, last: int | None = None,
               lines: tuple[str, ...] = (), buttons: list[tuple[Any, str]] = ()) -> None:
    """Draw a position on a pygame surface of :func:`board_size`."""
    import pygame

    cs = cell_size(game)
    w, h = board_size(game)
    grid = game.display(state)
    surface.fill((245, 245, 240))
    bw, bh = game.width * cs, game.height * cs
    centre = lambda r, c: (MARGIN + c * cs + cs // 2, MARGIN + r * cs + cs // 2)  # noqa: E731
    if game.name == "tictactoe":
        for i in range(1, 3):
            pygame.draw.line(surface, (40, 40, 40), (MARGIN + i * cs, MARGIN), (MARGIN + i * cs, MARGIN + bh), 4)
            pygame.draw.line(surface, (40, 40, 40), (MARGIN, MARGIN + i * cs), (MARGIN + bw, MARGIN + i * cs), 4)
        for r in range(3):
            for c in range(3):
                x, y = centre(r, c)
                d = cs // 3
                if grid[r, c] == 1:
                    pygame.draw.line(surface, (200, 40, 40), (x - d, y - d), (x + d, y + d), 8)
                    pygame.draw.line(surface, (200, 40, 40), (x - d, y + d), (x + d, y - d), 8)
                elif grid[r, c] == 2:
                    pygame.draw.circle(surface, (40, 80, 200), (x, y), d + 4, 7)
    elif game.name == "connect_four":
        pygame.draw.rect(surface, (30, 70, 180), (MARGIN, MARGIN, bw, bh), border_radius=10)
        colours = {0: (245, 245, 240), 1: (220, 40, 40), 2: (240, 210, 40)}
        for r in range(game.height):
            for c in range(game.width):
                pygame.draw.circle(surface, colours[int(grid[r, c])], centre(r, c), cs // 2 - 7)
    else:  # Go: stones on the intersections of lines through the cell centres
        pygame.draw.rect(surface, (220, 180, 100), (MARGIN, MARGIN, bw, bh))
        n = game.height
        for i in range(n):
            pygame.draw.line(surface, (40, 30, 20), centre(i, 0), centre(i, n - 1), 2)
            pygame.draw.line(surface, (40, 30, 20), centre(0, i), centre(n - 1, i), 2)
        for r, c in ((2, 2), (2, n - 3), (n - 3, 2), (n - 3, n - 3), (n // 2, n // 2)):
            pygame.draw.circle(surface, (40, 30, 20), centre(r, c), 4)
        for r in range(n):
            for c in range(n):
                if grid[r, c]:
                    colour = (20, 20, 20) if grid[r, c] == 1 else (250, 250, 250)
                    pygame.draw.circle(surface, colour, centre(r, c), cs // 2 - 2)
                    pygame.draw.circle(surface, (0, 0, 0), centre(r, c), cs // 2 - 2, 1)
    if last is not None and (cell := game.action_cell(last)) is not None:
        r, c = cell
        if game.name == "connect_four":
            col = grid[:, c]
            filled = np.nonzero(col)[0]
            r = int(filled[0]) if len(filled) else 0
        pygame.draw.circle(surface, (30, 200, 90), centre(r, c), 6)
    if probs is not None:
        small = _font(max(16, cs // 3))
        for a in np.argsort(-probs)[: min(len(probs), 12)]:
            p = float(probs[a])
            cell = game.action_cell(int(a))
            if p < 0.005 or cell is None:
                continue
            r, c = cell
            x, y = centre(r, c)
            halo = pygame.Surface((cs, cs), pygame.SRCALPHA)
            pygame.draw.circle(halo, (30, 200, 90, 90), (cs // 2, cs // 2), int(4 + (cs // 2 - 6) * p ** 0.5))
            surface.blit(halo, (x - cs // 2, y - cs // 2))
            text = small.render(f"{100 * p:.0f}%", True, (0, 90, 30))
            surface.blit(text, text.get_rect(center=(x, y)))
    font = _font(24)
    y = MARGIN + bh + 10
    for line in lines:
        surface.blit(font.render(line, True, (20, 20, 20)), (MARGIN, y))
        y += 22
    for rect, label in buttons:
        pygame.draw.rect(surface, (210, 225, 240), rect, border_radius=6)
        pygame.draw.rect(surface, (60, 80, 120), rect, 2, border_radius=6)
        text = font.render(label, True, (20, 30, 60))
        surface.blit(text, text.get_rect(center=rect.center))


def render_board(game: Game, state: np.ndarray, probs: np.ndarray | None = None, last: int | None = None,
                 lines: tuple[str, ...] = ()) -> np.ndarray:
    """A position as an RGB array (H, W, 3) uint8 (no window needed)."""
    import pygame

    surface = pygame.Surface(board_size(game))
    draw_board(surface, game, state, probs, last, lines)
    return np.ascontiguousarray(pygame.surfarray.array3d(surface).swapaxes(0, 1))


def outcome_line(game: Game, state: np.ndarray, reward: float) -> str:
    """'X wins', 'Draw' ... for a finished game whose last move earned ``reward``."""
    mover = 1 - int(game.to_play(state[None])[0])
    names = side_names(game)
    if reward == 0:
        return "Draw"
    winner = mover if reward > 0 else 1 - mover
    extra = ""
    if game.name.startswith("go"):
        extra = f" (Black {float(game.score(state[None])[0]):+.1f} after komi)"
    return f"{names[winner]} wins{extra}"


def watch_self_play(game: Game, think: Thinker, episodes: int = 1, record: Path | None = None, name: str = "the agent") -> dict[str, Any]:
    """A player plays ``episodes`` games against itself, each position drawn with its value and move
    probabilities: shown in a window (half a second a move) or recorded to ``record`` (.mp4 or .gif).
    Games after the first open with two drawn moves, so that they differ."""
    frames: list[np.ndarray] = []
    results = {"games": 0, "first_wins": 0, "second_wins": 0, "draws": 0}
    names = side_names(game)
    window = None if record is not None else SlideShow(f"{name} against itself")
    for ep in range(episodes):
        state, last = game.initial(1)[0], None
        while True:
            ply = int(np.count_nonzero(state[: game.cells]))
            action, info = think(state, not (ep > 0 and ply < 2))
            v = info["value"] * (1 if game.to_play(state[None])[0] == 0 else -1)
            lines = (f"Game {ep + 1}: {name} against itself", f"value {v:+.2f} for {names[0]}; next: {game.action_name(action)}")
            frames.append(render_board(game, state, info["probs"], last, lines))
            nxt, term, reward = game.step(state[None], np.array([action]))
            state, last = nxt[0], action
            if term[0]:
                mover = 1 - int(game.to_play(state[None])[0])
                results["games"] += 1
                key = "draws" if reward[0] == 0 else ("first_wins" if (mover == 0) == (reward[0] > 0) else "second_wins")
                results[key] += 1
                over = outcome_line(game, state, float(reward[0]))
                frames.extend([render_board(game, state, None, last, (f"Game {ep + 1}: {over}",))] * 3)
                break
        if window is not None and not window.show(frames):
            break
        if window is not None:
            frames = []
    if record is not None:
        from sandbox.tracking import write_video

        write_video(record, frames, fps=2)
        results["record"] = str(record)
    return results


class SlideShow:
    """A window that shows pictures half a second each; closing it stops the show."""

    def __init__(self, caption: str, seconds: float = 0.5) -> None:
        self.caption, self.seconds = caption, seconds
        self.screen: Any = None

    def show(self, frames: list[np.ndarray]) -> bool:
        """Show ``frames``; False once the person has closed the window."""
        import pygame

        pygame.display.init()
        if self.screen is None:
            self.screen = pygame.display.set_mode(frames[0].shape[1::-1])
            pygame.display.set_caption(self.caption)
        for f in frames:
            for event in pygame.event.get():
                if event.type == pygame.QUIT:
                    return False
            self.screen.blit(pygame.surfarray.make_surface(f.swapaxes(0, 1)), (0, 0))
            pygame.display.flip()
            pygame.time.wait(int(self.seconds * 1000))
        return True


class HumanGame:
    """A pygame window where a person plays ``game`` against ``opponent`` with the mouse."""

    def __init__(self, game: Game, opponent: Opponent, episodes: int = 1, record: Path | None = None,
                 opponent_name: str = "the agent", human_side: int | None = None, fps: int = 30) -> None:
        import pygame

        self.game, self.opponent, self.episodes = game, opponent, episodes
        self.record, self.opponent_name, self.fps = record, opponent_name, fps
        self.names = side_names(game)
        pygame.display.init()
        pygame.font.init()
        self.size = board_size(game)
        self.screen = pygame.display.set_mode(self.size)
        pygame.display.set_caption(f"{game.name}: you against {opponent_name}")
        self.clock = pygame.time.Clock()
        w, h = self.size
        y = h - 48
        self.side_buttons = [(pygame.Rect(MARGIN, y, w // 2 - MARGIN - 6, 38), f"Play {self.names[0]} (first)"),
                             (pygame.Rect(w // 2 + 6, y, w // 2 - MARGIN - 6, 38), f"Play {self.names[1]} (second)")]
        self.pass_button = (pygame.Rect(w - MARGIN - 110, y, 110, 38), "Pass (P)")
        self.frames: list[np.ndarray] = []
        self.results = {"games": 0, "human_wins": 0, "opponent_wins": 0, "draws": 0}
        self.running = True
        self.fixed_side = human_side
        self._new_game()

    # -- state --------------------------------------------------------------------------------
    def _new_game(self) -> None:
        self.state = self.game.initial(1)[0]
        self.last: int | None = None
        self.over = False
        self.message = ""
        self.human = self.fixed_side
        self.info: dict[str, Any] | None = None  # what the opponent thinks of the position shown
        self.info_for: bytes | None = None

    @property
    def phase(self) -> str:
        if self.human is None:
            return "side"
        return "over" if self.over else "play"

    def to_play(self) -> int:
        return int(self.game.to_play(self.state[None])[0])

    def play(self, action: int) -> bool:
        """Play ``action`` for the side to move if it is legal; True when it was."""
        if self.over or not self.game.legal(self.state[None])[0][action]:
            return False
        nxt, term, reward = self.game.step(self.state[None], np.array([action]))
        self.state, self.last = nxt[0], int(action)
        self.info, self.info_for = None, None
        if term[0]:
            self.over = True
            self.message = outcome_line(self.game, self.state, float(reward[0]))
            self.results["games"] += 1
            mover = 1 - self.to_play()
            if reward[0] == 0:
                self.results["draws"] += 1
            elif (mover == self.human) == (reward[0] > 0):
                self.results["human_wins"] += 1
            else:
                self.results["opponent_wins"] += 1
        return True

    # -- events -------------------------------------------------------------------------------
    def handle(self, event: Any) -> None:
        import pygame

        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
            self.running = False
        elif self.phase == "side":
            if event.type == pygame.KEYDOWN and event.key in (pygame.K_1, pygame.K_2):
                self.human = 0 if event.key == pygame.K_1 else 1
            elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
                for side, (rect, _) in enumerate(self.side_buttons):
                    if rect.collidepoint(event.pos):
                        self.human = side
        elif self.phase == "over":
            if event.type in (pygame.MOUSEBUTTONDOWN, pygame.KEYDOWN):
                if self.results["games"] >= self.episodes:
                    self.running = False
                else:
                    self._new_game()
        elif self.to_play() == self.human:
            passing = getattr(self.game, "pass_action", None)
            if event.type == pygame.KEYDOWN and event.key == pygame.K_p and passing is not None:
                self.play(passing)
            elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
                if passing is not None and self.pass_button[0].collidepoint(event.pos):
                    self.play(passing)
                elif (cell := cell_at(self.game, event.pos)) is not None:
                    action = self.game.action_at(*cell)
                    if action is not None:
                        self.play(action)

    def _think(self) -> None:
        key = self.state.tobytes()
        if self.info_for != key:
            action, info = self.opponent(self.state)
            self.info, self.info_for = {**info, "action": action}, key

    def update(self) -> None:
        """The opponent's move when it is its turn; its analysis of the person's position too."""
        if self.phase != "play":
            return
        self._think()
        if self.to_play() != self.human and self.info is not None:
            self.play(int(self.info["action"]))

    # -- drawing ------------------------------------------------------------------------------
    def lines(self) -> tuple[str, ...]:
        if self.phase == "side":
            return (f"You against {self.opponent_name}.", "Choose your side (or press 1 / 2):")
        out = [f"You play {self.names[self.human]}." + (f"  {self.message}. Click for the next game." if self.over else "")]
        if self.info is not None and not self.over:
            v = float(self.info["value"]) * (1 if self.to_play() == 0 else -1)
            out.append(f"{self.opponent_name} thinks: value {v:+.2f} for {self.names[0]}")
            out.append("(green: its move probabilities for the side to move)")
        return tuple(out)

    def frame(self) -> np.ndarray:
        import pygame

        buttons = self.side_buttons if self.phase == "side" else []
        if self.phase == "play" and getattr(self.game, "pass_action", None) is not None:
            buttons = [self.pass_button]
        probs = self.info["probs"] if (self.info is not None and self.phase == "play") else None
        draw_board(self.screen, self.game, self.state, probs, self.last, self.lines(), buttons)
        pygame.display.flip()
        return np.ascontiguousarray(pygame.surfarray.array3d(self.screen).swapaxes(0, 1))

    def tick(self) -> None:
        import pygame

        for event in pygame.event.get():
            self.handle(event)
        if self.running:
            self.update()
            frame = self.frame()
            if self.record is not None:
                self.frames.append(frame)
            self.clock.tick(self.fps)

    def run(self, max_frames: int | None = None) -> dict[str, Any]:
        """Play until the person has played ``episodes`` games or closes the window."""
        import pygame

        frames = 0
        while self.running and (max_frames is None or frames < max_frames):
            self.tick()
            frames += 1
        if self.record is not None and self.frames:
            from sandbox.tracking import write_video

            write_video(self.record, self.frames[:: max(1, self.fps // 5)], fps=5)
        pygame.display.quit()
        return dict(self.results)
