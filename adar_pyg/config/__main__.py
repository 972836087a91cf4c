from adar_pyg.config.config import settings_markdown

if __name__ == '__main__':
    print(settings_markdown(), end='')
